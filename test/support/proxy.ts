// A TCP proxy a test owns, to make a real server "go away": cut, every
// connection through it is dropped and new ones are refused; mended, it
// listens again on the same port. Used to take the database away from a
// running service (PGlite lives inside the process, so Postgres only).

import type { Socket, TCPSocketListener } from 'bun'

/** A TCP proxy to `target` that can be cut (drop everything, refuse new) and mended. */
export function cuttableProxy(target: { hostname: string; port: number }) {
  type Pair = { client: Socket<{ peer?: Socket<unknown> }>; upstream?: Socket<unknown> }
  const pairs = new Set<Pair>()
  let listener: TCPSocketListener<{ peer?: Socket<unknown> }> | null = null
  let port = 0
  const listen = () => {
    listener = Bun.listen<{ peer?: Socket<unknown> }>({
      hostname: '127.0.0.1',
      port,
      socket: {
        async open(client) {
          const pair: Pair = { client }
          pairs.add(pair)
          client.pause()
          pair.upstream = await Bun.connect({
            ...target,
            socket: {
              data: (_, chunk) => void client.write(chunk),
              close: () => void client.end(),
              error: () => void client.end(),
            },
          })
          client.data = { peer: pair.upstream }
          client.resume()
        },
        data: (client, chunk) => void client.data.peer?.write(chunk),
        close: (client) => void client.data.peer?.end(),
        error: (client) => void client.data.peer?.end(),
      },
    })
    port = listener.port
  }
  listen()
  return {
    get port() {
      return port
    },
    cut() {
      listener?.stop(true)
      listener = null
      for (const pair of pairs) {
        void pair.client.end()
        void pair.upstream?.end()
      }
      pairs.clear()
    },
    mend: listen,
    close() {
      this.cut()
    },
  }
}
