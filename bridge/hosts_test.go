package bridge_test

func childHost() int { return 3 }
