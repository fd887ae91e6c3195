"""The Mesos agent: containerizer, sandboxes, files API, state endpoints, master link."""
