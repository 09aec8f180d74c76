"""Assessment: KPIs over aggregates kept in step with the cases, rankings, bulletins and dashboards."""
