"""The HTTP edge: transport (http.py), authentication (auth.py), response bodies
(bodies.py), the handlers of calls, carriers and operations, and the OpenAPI document."""
