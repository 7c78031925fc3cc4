"""gridlab.backtest"""
