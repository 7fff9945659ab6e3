"""The protobuf layer: field tables (data), a wire reader, lazy message views and a validating scan."""
