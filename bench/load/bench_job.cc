// The cheapest possible job: a static binary that exits 0. The lateness and throughput
// scenarios run it so the figures measure the scheduler, not the dynamic loader.
int main() { return 0; }
