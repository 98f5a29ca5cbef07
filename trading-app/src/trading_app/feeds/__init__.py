"""Market feeds that produce ticks: simulated (GBM), CSV replay, Binance relay."""
