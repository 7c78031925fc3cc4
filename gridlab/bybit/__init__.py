"""gridlab.bybit"""
