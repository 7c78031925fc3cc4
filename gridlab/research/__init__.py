"""gridlab.research"""
