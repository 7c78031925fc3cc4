"""gridlab.store"""
