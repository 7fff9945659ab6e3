"""Every report's machine document in one place: JSON/NDJSON with schema_version, SARIF 2.1.0, GitHub
annotations.
"""
