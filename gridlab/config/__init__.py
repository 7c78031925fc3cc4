"""gridlab.config"""
