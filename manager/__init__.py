"""Manager: cluster state in etcd (store/), leader election, and the control loops."""
