"""Registry client: pull, push and login over the OCI distribution protocol."""
