"""Analytics: the read side. A warehouse of Parquet files, indicators written once and run on DuckDB or Spark,
and one confidentiality gate that every aggregate goes through on its way out. Nothing imports this package.
"""
