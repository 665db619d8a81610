"""What the public and the providers trigger: signup, the preference centre, unsubscribe links, SMS keywords,
bounces and complaints."""
