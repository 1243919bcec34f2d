"""Build images from Dockerfiles: parsing, build contexts, COPY/ADD, and the builder."""
