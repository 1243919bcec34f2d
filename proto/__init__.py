"""shoal's wire and storage types: `shoal/v1/*.proto` and the code generated from them.

Import the generated modules as `shoal.proto.shoal.v1.<name>_pb2`; regenerate with
`make proto` (see generate.py), never edit them by hand.
"""
