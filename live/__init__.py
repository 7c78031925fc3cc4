"""Live runner and control panel."""
