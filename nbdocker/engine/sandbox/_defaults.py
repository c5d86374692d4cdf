"""What a container gets where its image sets nothing, as with Docker.

A module of its own, without imports: the builder writes ``DEFAULT_PATH`` into the config of
every image it builds, cached steps included, and should not load the rest of the sandbox for it.
"""

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
