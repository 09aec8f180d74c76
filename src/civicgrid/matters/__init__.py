"""The matter catalogue (事项清单): categories of cases with their standards, lead departments and time limits."""
