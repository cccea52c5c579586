// GET /v1/openapi.json and GET /docs/api: the document, and a plain page
// made from it on the server (no script, nothing fetched from elsewhere:
// Belfry often runs where there is no internet).

import { Html } from '@elysiajs/html'
import { Elysia } from 'elysia'
import { openApiDocument, type OpenApiDocument } from './openapi.ts'

type Operation = { summary?: string; description?: string; security?: Record<string, unknown>[] }

function authOf(operation: Operation): string {
  const scheme = Object.keys(operation.security?.[0] ?? {})[0]
  return scheme === 'apiKey' ? 'Bearer API key' : scheme === 'webhookSignature' ? 'webhook signature' : 'none'
}

export function ApiDocsPage({ doc }: { doc: OpenApiDocument }): JSX.Element {
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods as Record<string, Operation>).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })),
  )
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Belfry API</title>
      </head>
      <body>
        <main>
          <h1>Belfry API</h1>
          <p safe>{doc.info.description}</p>
          <p>
            Machine-readable: <a href="/v1/openapi.json">/v1/openapi.json</a> (OpenAPI <span safe>{doc.openapi}</span>).
          </p>
          <h2>Routes</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">method</th>
                <th scope="col">path</th>
                <th scope="col">auth</th>
                <th scope="col">what</th>
              </tr>
            </thead>
            <tbody>
              {operations.map(({ path, method, operation }) => (
                <tr>
                  <td safe>{method}</td>
                  <td>
                    <code safe>{path}</code>
                  </td>
                  <td safe>{authOf(operation)}</td>
                  <td>
                    <span safe>{operation.summary ?? ''}</span>
                    {operation.description ? <p safe>{operation.description}</p> : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Schemas</h2>
          {Object.entries(doc.components.schemas).map(([name, schema]) => (
            <section>
              <h3 id={`schema-${name}`} safe>
                {name}
              </h3>
              <pre safe>{JSON.stringify(schema, null, 2)}</pre>
            </section>
          ))}
        </main>
      </body>
    </html>
  )
}

export function apiDocsRoutes(publicUrl: string) {
  const doc = openApiDocument(publicUrl)
  const page = `<!doctype html>${ApiDocsPage({ doc }) as string}`
  return new Elysia({ name: 'api-docs' })
    .get('/v1/openapi.json', () => new Response(JSON.stringify(doc), { headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' } }))
    .get(
      '/docs/api',
      () =>
        new Response(page, {
          headers: {
            'content-type': 'text/html; charset=utf-8',
            'content-security-policy': "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            'x-content-type-options': 'nosniff',
          },
        }),
    )
}
