"""What the API and the public pages share at the HTTP edge, so that neither imports the other:
bounded body reading and JSON decoding, JSON:API error documents and resource linkage (the
public signup takes Klaviyo's client body), and the fixed-window rate limiter."""
