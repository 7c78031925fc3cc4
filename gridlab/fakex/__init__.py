"""gridlab.fakex"""
