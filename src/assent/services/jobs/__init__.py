"""Durable bulk jobs: what a job is (`model`), queueing (`queueing`), reading back (`reading`), working through
a batch at a time (`batches`) and the runner thread (`worker`)."""
