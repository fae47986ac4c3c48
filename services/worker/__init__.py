"""The worker service: runs node work items from the WORK stream and records their outcomes."""
