"""JSON-RPC 2.0 (https://www.jsonrpc.org/specification) for annotations: protocol and methods."""
