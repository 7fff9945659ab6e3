"""What exprtool does with datafusion itself: re-encode, encode SQL, replay (eval); every decode passes the one
trust gate.
"""
