"""The protobuf layer: generated field tables, the one wire reader, lazy message views, the validating scan,
and what datafusion's from_proto refuses.
"""
