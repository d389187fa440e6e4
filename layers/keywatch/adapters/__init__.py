"""The only modules that call boto3."""
