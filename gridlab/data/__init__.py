"""gridlab.data"""
