"""The edge: the CloudFront Function and the list of what the internet may call."""
