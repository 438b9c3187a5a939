"""Access and refresh tokens: issuing, finding a presented one, protecting resources with one."""
