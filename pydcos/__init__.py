"""pydcos: a datacenter operating system in Python, after DC/OS 1.8."""

__version__ = "0.1.0"

# The Mesos version we speak. Clients (pymesos) parse it as integers, so it stays purely numeric.
MESOS_VERSION = "1.0.1"
