"""Uploaded files: content-addressed storage and photo checks (type sniffing, EXIF stripping, thumbnails)."""
