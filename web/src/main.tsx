import { render } from 'preact'
import { api } from './api/client.js'
import { reauthMiddleware } from './api/reauth.js'
import { authMiddleware } from './api/session.js'
import { App } from './app.js'
import './styles.css'

// Every typed API call gets the bearer token, the sign-in-again handling and the password prompt of
// sensitive actions; the order matters (see reauthMiddleware).
api.use(reauthMiddleware, authMiddleware)

const root = document.getElementById('app')
if (root) render(<App />, root)
