"""Mesos v1 API messages (JSON form) and RecordIO framing."""
