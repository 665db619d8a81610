"""Webhooks: the endpoints an account registers (endpoints), the deliveries the recorder queues
for them in the transaction of each change (queue), and the deliverer that sends them, signed,
in order, with retries (delivery)."""
