"""High availability: the decision logic (pure, driven through events and returning actions), the
virtual-time simulator that checks it against scenarios, and the pieces pvcd wires it to."""
