import { render } from 'preact'
import { api } from './api/client.js'
import { authMiddleware } from './api/session.js'
import { App } from './app.js'
import './styles.css'

// Every typed API call gets the bearer token and the sign-in-again handling.
api.use(authMiddleware)

const root = document.getElementById('app')
if (root) render(<App />, root)
