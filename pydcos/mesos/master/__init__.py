"""The Mesos master: registry, allocator, scheduler API, operator API, agent link."""
