"""An Azure Functions app (Python v2 programming model) on messagehandler's Functions adapters."""
