"""Mail coming back: classification of replies, auto-replies, bounces and unsubscribes."""
