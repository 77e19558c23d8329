"""A TF Serving-compatible model server (gRPC + REST) and its client."""
