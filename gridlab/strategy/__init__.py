"""gridlab.strategy"""
