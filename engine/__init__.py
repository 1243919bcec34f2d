"""The local container engine: images, snapshots, runtime, containers, REST API."""
