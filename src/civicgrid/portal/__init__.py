"""The public portal: anonymous reporting with a human check and rate limits, tracking, nearby cases, rating."""
