"""What runs only in the production profile: the resilient tracker store, the draining event
broker, the broker consumer and the profile that derives every service's settings."""
