"""Generated protobuf and gRPC modules for the `shoal.v1` proto package."""
