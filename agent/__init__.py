"""The LangGraph multi-agent runtime: coordinator, monitor, diagnose, repair, action gate."""
