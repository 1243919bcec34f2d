"""The Docker Engine API's Swarm JSON ⇄ shoal's protobuf objects, and what the REST routes need.

convert.py gathers the pure conversion functions (one module per kind:
services, containers, tasks, nodes, swarm, networks); backend.py defines the
ClusterBackend protocol the REST routes (engine/api/routes_swarm.py) call;
filters.py and lookup.py turn Docker's filters and references into Control
API requests; rpc.py maps gRPC status codes to HTTP statuses.
"""
